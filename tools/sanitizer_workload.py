"""A small workload covering every CUDA kernel body, for compute-sanitizer:
max pooling forward/backward/double backward/indices in 1d/2d/3d, both
layouts, several dtypes, a large kernel (int32 offsets), an empty dilated
window, and unpooling with repeated indices."""
import torch

import pooling_ext.functional as PF


def run():
    dev = "cuda"
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        for fmt in (torch.contiguous_format, torch.channels_last):
            x = torch.randn(2, 5, 13, 11, device=dev, dtype=dtype).to(memory_format=fmt).requires_grad_()
            out, idx = PF.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True)
            grad_out = torch.randn_like(out).requires_grad_()
            (g,) = torch.autograd.grad(out, x, grad_out, create_graph=True)
            g.sum().backward()
            u = PF.max_unpool2d(out.detach().clone().requires_grad_(), idx, 3, 2, 1, output_size=x.shape[-2:])
            u.sum().backward()
    x1 = torch.randn(3, 4, 50, device=dev, requires_grad=True)
    PF.max_pool1d(x1, 4, 3, 2, dilation=2).sum().backward()
    x3 = torch.randn(2, 3, 7, 8, 9, device=dev).to(memory_format=torch.channels_last_3d).requires_grad_()
    out3, idx3 = PF.max_pool3d(x3, (3, 2, 3), (2, 1, 2), 1, return_indices=True)
    out3.sum().backward()
    PF.max_unpool3d(out3.detach(), idx3, (3, 2, 3), (2, 1, 2), 1, output_size=x3.shape[-3:])
    big = torch.randn(1, 2, 40, 40, device=dev, requires_grad=True)
    PF.max_pool2d(big, 20, 3, 10).sum().backward()
    empty = torch.randn(3, 1, 1, 4, 5, device=dev, requires_grad=True)
    PF.max_pool3d(empty, (2, 2, 1), 3, (1, 0, 0), 2).sum().backward()
    values = torch.arange(1.0, 65.0, device=dev).view(1, 1, 64)
    PF.max_unpool1d(values, torch.full((1, 1, 64), 5, device=dev), 2)
    torch.cuda.synchronize()
    print("sanitizer workload done")


if __name__ == "__main__":
    run()
