#!/bin/bash
# GPU check, one command: run on a lent GPU machine from the repository root, with $OUT set to a folder for the logs.
#
#   OUT=/tmp/out bash scripts/gpu_check.sh
#
# 1. installs this package offline-first (`pip install --no-index --no-deps -e .`: the machine's torch, with its
#    Triton, and transformers are used as they are; nothing is downloaded);
# 2. builds mamba-ssm from an sdist in .gpu/ when one is there (optional: without it the mamba_ssm rows are skipped and
#    `ssm_backend="auto"` runs the Triton kernel); prepare it where pip works with
#      pip download --no-deps --no-build-isolation mamba-ssm==2.3.2.post1 -d /tmp/dl
#    unpack it into .gpu/ (git-ignored) and, in its setup.py, just before the "# HACK: The compiler flag" comment, add
#      cc_flag = [f for f in cc_flag if f != "-gencode" and not f.startswith("arch=")] + ["-gencode", "arch=compute_90,code=sm_90"]
# 3. runs every `cuda`-marked test natively (the Triton kernels against the float64 reference, every CUDA backend, the
#    model on the GPU);
# 4. runs scripts/bench_cuda.py: one layer at 16,384 and 262,144 positions for each CUDA backend (Triton, mamba-ssm,
#    torch scan), without and with an initial state, and bytes-tiny forward+backward at 262,144 bytes in 4 carried
#    sub-sequences; writes $OUT/cuda/cuda.json and cuda.md (the README's table) and prints each stateful row's ratio to
#    mamba-ssm's stateless kernel (goal <= 1.5).
set -u
OUT=${OUT:-/tmp/bytevid-gpu-check}
mkdir -p "$OUT"
T0=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, triton, transformers; print('torch', torch.__version__, 'triton', triton.__version__, 'transformers', transformers.__version__)"
if ls .gpu/av-*.whl > /dev/null 2>&1 && ! python3 -c "import av" 2> /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/av-*.whl && export PYTHONPATH=/tmp/site
fi
python3 -m pip install -q --no-build-isolation --no-deps --no-index -e . > "$OUT/install.log" 2>&1; echo "bytevid install rc $?"
if ls -d .gpu/mamba_ssm-*/ > /dev/null 2>&1; then
  (cd .gpu/mamba_ssm-*/ && MAMBA_FORCE_BUILD=TRUE MAX_JOBS=12 timeout 330 python3 -m pip install --no-build-isolation --no-deps --no-index . > "$OUT/build_mamba.log" 2>&1; echo "mamba-ssm build rc $?")
  tail -n 3 "$OUT/build_mamba.log"
else
  echo "no .gpu/mamba_ssm-* sdist: the mamba_ssm rows are skipped"
fi
echo "setup done after $(( $(date +%s) - T0 )) s"
python3 -c "from bytevid_hf.modeling.scan import SCAN_BACKENDS as S, resolve_scan_backend as r; print({b: S[b].available() for b in ('triton', 'mamba_ssm', 'torch')}, '| ssm_backend=auto on cuda runs', r('auto', 'cuda'))"
export PYTHONUNBUFFERED=1
timeout 240 python3 -m pytest -q -p no:cacheprovider -m cuda -rs tests/ 2>&1 | tail -30 | tee "$OUT/pytest.log"
timeout 300 python3 scripts/bench_cuda.py --out "$OUT/cuda" 2>&1 | tail -40
echo "total $(( $(date +%s) - T0 )) s"
