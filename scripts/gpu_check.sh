#!/bin/bash
# GPU check: build mamba-ssm + causal-conv1d (the [cuda] extra) for sm_90 (Hopper) on a machine without internet, run
# the CUDA tests and scripts/bench_cuda.py (config.ssm_backend "mamba_ssm" vs "torch"). Run from the repository root on
# the GPU machine, with $OUT set to a folder for the logs.
# Prepare .gpu/ (git-ignored) where pip works:
#   pip download --no-deps --no-build-isolation mamba-ssm==2.3.2.post1 causal-conv1d==1.7.0 -d /tmp/dl
#   unpack both sdists into .gpu/ and, in each setup.py, just before the "# HACK: The compiler flag" comment, add
#     cc_flag = [f for f in cc_flag if f != "-gencode" and not f.startswith("arch=")] + ["-gencode", "arch=compute_90,code=sm_90"]
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 -d .gpu av==18.1.0
set -u
T0=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/av-*.whl && export PYTHONPATH=/tmp/site
export MAMBA_FORCE_BUILD=TRUE CAUSAL_CONV1D_FORCE_BUILD=TRUE
(cd .gpu/causal_conv1d-1.7.0 && MAX_JOBS=4 timeout 330 python3 -m pip install --no-build-isolation --no-deps --no-index . > $OUT/build_causal.log 2>&1; echo "causal-conv1d build rc $?") &
(cd .gpu/mamba_ssm-2.3.2.post1 && MAX_JOBS=12 timeout 330 python3 -m pip install --no-build-isolation --no-deps --no-index . > $OUT/build_mamba.log 2>&1; echo "mamba-ssm build rc $?") &
python3 -m pip install -q --no-build-isolation --no-deps --no-index -e . > $OUT/install.log 2>&1; echo "bytevid install rc $?"
wait
echo "builds done after $(( $(date +%s) - T0 )) s"
tail -n 3 $OUT/build_causal.log $OUT/build_mamba.log
python3 -c "from bytevid_hf.modeling.scan import SCAN_BACKENDS, resolve_scan_backend as r; print('mamba_ssm backend available', SCAN_BACKENDS['mamba_ssm'].available(), '| ssm_backend=auto on cuda runs', r('auto', 'cuda'))"
export PYTHONUNBUFFERED=1
timeout 150 python3 -m pytest -q -p no:cacheprovider -m "cuda or not slow" -rs tests/test_scan.py tests/test_mixer_blocks.py tests/test_modeling.py tests/test_streaming.py 2>&1 | tail -25 | tee $OUT/pytest.log
timeout 150 python3 scripts/bench_cuda.py --out $OUT/cuda 2>&1 | tail -40
echo "total $(( $(date +%s) - T0 )) s"
