"""Kernel-level profile of one benchmark case on CUDA (torch.profiler), for
finding where forward+backward time goes."""
import sys

import torch
from torch.profiler import ProfilerActivity, profile

import pooling_ext.functional as PF
import torch.nn.functional as TF

shape = (32, 64, 112, 112)
for name, fn in (("ours", PF.max_pool2d), ("torch", TF.max_pool2d)):
    for fmt in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(shape, device="cuda").to(memory_format=fmt).requires_grad_()
        g = torch.randn_like(fn(x, 3, 2, 1))
        for _ in range(3):
            fn(x, 3, 2, 1).backward(g)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(5):
                fn(x, 3, 2, 1).backward(g)
            torch.cuda.synchronize()
        print(f"===== {name} {fmt}")
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=8, max_name_column_width=60))
sys.stdout.flush()
