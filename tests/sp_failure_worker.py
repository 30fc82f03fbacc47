"""One rank of a 2-process sequence-parallel training loop (gloo, CPU) in which one rank (default 1) fails in the
middle of its third forward pass; run by tests/test_distributed_failures.py as plain processes (no torchrun, whose
agent would kill the survivors itself: here the model's own error handling must stop them).

    RANK=r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=p python tests/sp_failure_worker.py MODE TIMEOUT_S [FAILING_RANK]

MODE: ``raise`` (an exception), ``exit`` (``os._exit(3)``), ``kill`` (SIGKILL to itself) or ``hang`` (stops
calling collectives). TIMEOUT_S bounds each collective (``enable_sequence_parallel(timeout=...)``). FAILING_RANK
(default 1) is the rank that fails; rank 0 also hosts the rendezvous store. Prints
``FAILING <unix time>`` just before the injected failure and ``FINISHED`` if the loop ends.
"""

import os
import signal
import sys
import time

import torch
import torch.distributed as dist

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification
from bytevid_hf.parallel import average_sequence_parallel_gradients, enable_sequence_parallel


def main():
    mode, timeout = sys.argv[1], float(sys.argv[2])
    failing_rank = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    torch.set_num_threads(1)
    dist.init_process_group("gloo")  # torch's default timeout (30 min for gloo); the model's own bound applies below
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = BytesVideoForClassification(BytesVideoConfig.from_preset("bytes-micro", num_labels=3))
    enable_sequence_parallel(model, timeout=timeout)
    step = {"n": 0}

    def fail(module, args):  # a forward pre-hook on a level-2 mixer: the failing rank fails mid-forward
        if rank == failing_rank and step["n"] == 2:
            print(f"FAILING {time.time():.3f}", flush=True)
            if mode == "raise":
                raise RuntimeError(f"injected failure on rank {rank} (test)")
            if mode == "exit":
                os._exit(3)
            if mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if mode == "hang":
                time.sleep(3600)

    model.bytevid.levels[2][0].mixer.register_forward_pre_hook(fail)
    ids = torch.randint(0, 256, (1, 4096), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    labels = torch.tensor([1])
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    for step["n"] in range(6):
        loss = model(ids, labels=labels).loss
        loss.backward()
        average_sequence_parallel_gradients(model)
        optimizer.step()
        optimizer.zero_grad()
    print("FINISHED", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
