"""A small workload covering every CUDA kernel, for compute-sanitizer:
max pooling forward/backward/double backward/indices in 1d/2d/3d, both
layouts, several dtypes, a large kernel (int32 offsets), an empty dilated
window, unpooling with repeated indices; average, LP and GeM pooling with
their backwards (GeM's learnable p: the fixed-order block sum); adaptive average and max pooling (overlapping windows, global
heads) in both layouts; fractional max pooling 2d/3d with indices, backward and
double backward."""
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
    sum_family(dev)
    adaptive(dev)
    fractional(dev)
    torch.cuda.synchronize()
    print("sanitizer workload done")


def sum_family(dev):
    for dtype in (torch.float32, torch.bfloat16, torch.float64):
        for fmt in (torch.contiguous_format, torch.channels_last):
            x = torch.rand(2, 6, 13, 11, device=dev, dtype=dtype).add_(0.1).to(memory_format=fmt).requires_grad_()
            outs = [
                PF.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                PF.avg_pool2d(x, 2, divisor_override=3),
                PF.lp_pool2d(x, 2.0, 3, 2),
                PF.lp_pool2d(x, 2.5, (2, 3), 1, ceil_mode=True),
                PF.gem(x, 3.0),
            ]
            for out in outs:
                grad_out = torch.randn_like(out).requires_grad_()
                (g,) = torch.autograd.grad(out, x, grad_out, create_graph=dtype == torch.float64)
                if dtype == torch.float64:
                    g.sum().backward()
    # GeM with a learnable p: its gradient is summed by the block program
    # FixedOrderSumProgram (shared memory, a barrier, warp sums), over 3 blocks then 1.
    p = torch.tensor(3.0, device=dev, requires_grad=True)
    xg = torch.rand(3, 700, 5, 4, device=dev, requires_grad=True)
    PF.gem(xg, p).sum().backward()
    x1 = torch.rand(3, 4, 50, device=dev, requires_grad=True)
    PF.avg_pool1d(x1, 4, 3, 2).sum().backward()
    PF.lp_pool1d(x1, 3.0, 4, 3).sum().backward()
    x3 = torch.rand(2, 3, 7, 8, 9, device=dev).to(memory_format=torch.channels_last_3d).requires_grad_()
    PF.avg_pool3d(x3, (3, 2, 3), (2, 1, 2), 1).sum().backward()
    PF.lp_pool3d(x3, 2.0, 2).sum().backward()


def adaptive(dev):
    for fmt in (torch.contiguous_format, torch.channels_last):
        for shape, out_size in (((2, 5, 13, 11), (4, 3)), ((2, 20, 7, 7), 1), ((1, 3, 14, 14), 7)):
            x = torch.randn(*shape, device=dev).to(memory_format=fmt).requires_grad_()
            PF.adaptive_avg_pool2d(x, out_size).sum().backward()
            out, idx = PF.adaptive_max_pool2d(x, out_size, return_indices=True)
            grad_out = torch.randn_like(out).requires_grad_()
            (g,) = torch.autograd.grad(out, x, grad_out, create_graph=True)
            g.sum().backward()
    x1 = torch.randn(3, 4, 50, device=dev, requires_grad=True)
    PF.adaptive_avg_pool1d(x1, 7).sum().backward()
    PF.adaptive_max_pool1d(x1, 7).sum().backward()
    x3 = torch.randn(2, 3, 7, 8, 9, device=dev).to(memory_format=torch.channels_last_3d).requires_grad_()
    PF.adaptive_avg_pool3d(x3, (3, 5, 4)).sum().backward()
    PF.adaptive_max_pool3d(x3, (3, 5, 4)).sum().backward()



def fractional(dev):
    for dtype in (torch.float32, torch.bfloat16, torch.float64):
        for fmt in (torch.contiguous_format, torch.channels_last):
            x = torch.randn(2, 5, 13, 11, device=dev, dtype=dtype).to(memory_format=fmt).requires_grad_()
            out, idx = PF.fractional_max_pool2d(x, 3, output_size=(7, 6), return_indices=True)
            grad_out = torch.randn_like(out).requires_grad_()
            (g,) = torch.autograd.grad(out, x, grad_out, create_graph=True)
            g.sum().backward()
    x3 = torch.randn(2, 3, 9, 8, 10, device=dev).to(memory_format=torch.channels_last_3d).requires_grad_()
    out3, idx3 = PF.fractional_max_pool3d(x3, (2, 3, 2), output_ratio=(0.5, 0.5, 0.7), return_indices=True)
    out3.sum().backward()
    # Samples outside [0, 1) keep every window inside the input.
    wild = torch.tensor([[[5.0, -3.0]]], device=dev).expand(2, 5, 2).contiguous()
    PF.fractional_max_pool2d(torch.randn(2, 5, 13, 11, device=dev), 3, output_size=(7, 6), _random_samples=wild)


if __name__ == "__main__":
    run()
