#!/usr/bin/env python
"""Self-supervised pre-training of a bytevid backbone with transformers.Trainer (paper Table 10).

Objectives:
    next-byte  BytesVideoForCausalLM: predict byte t+1 from bytes <= t (windows of --max_length bytes)
    rgb        BytesVideoForRGBReconstruction: reconstruct 10 frames at 128x128 decoded from the same clip

Examples:
    python scripts/pretrain.py --objective next-byte --data_dir videos/ --preset bytes-tiny --output_dir pre \
        --num_train_epochs 1 --per_device_train_batch_size 4 --max_length 65536
    python scripts/pretrain.py --objective rgb --dataset_path prepared/ --output_dir pre_rgb --max_steps 1000
    python scripts/pretrain.py --objective next-byte --dataset_name user/videos --output_dir pre --push_to_hub \
        --hub_model_id user/bytevid-pretrained

Data: --data_dir (a folder of videos, searched recursively), --dataset_path (save_to_disk, a prepare_data.py output
or a folder load_dataset reads) or --dataset_name (a Hub dataset id, or videofolder with --data_dir; --dataset_config,
--train_split). The output holds model, processor, code and model card; --push_to_hub pushes it at the end.

The learning rate defaults to the paper's pre-training rate for the preset (appendix A.2: 9e-5 / 7e-5 / 5e-5 for
bytes-tiny / -base / -large, 1e-3 for bytes-micro) unless --learning_rate is given. Fine-tune the result with
``scripts/finetune.py --model_name_or_path <output_dir>``: the backbone is kept, the classification head is new.
"""

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: no spinning threads on a shared machine

from bytevid_hf.training.pretraining import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:])
