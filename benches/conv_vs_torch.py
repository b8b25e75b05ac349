#!/usr/bin/python3
"""PyTorch's CPU convolutions at bench_conv's sizes, as a yardstick for docs/perf.md
("Convolutions"): forward under no_grad, and forward + backward (input, weight and bias
gradients), best of 5 calls after one warm-up, 2 threads (as OMP_NUM_THREADS=2 bench_conv).

Usage: /usr/bin/python3 benches/conv_vs_torch.py
"""
import time, torch, torch.nn.functional as F
torch.set_num_threads(2)
def t(fn, n=5):
    fn(); best=1e9
    for _ in range(n):
        s=time.perf_counter(); fn(); best=min(best,time.perf_counter()-s)
    return best*1e3
for name, x, w, f in (("conv1d", torch.randn(64,64,256), torch.randn(128,64,4), lambda x,w,b: F.conv1d(x,w,b,2,1)),
                      ("conv_transpose1d", torch.randn(64,128,128), torch.randn(128,64,4), lambda x,w,b: F.conv_transpose1d(x,w,b,2,1)),
                      ("conv2d", torch.randn(64,64,32,32), torch.randn(128,64,4,4), lambda x,w,b: F.conv2d(x,w,b,2,1))):
    b = torch.randn(w.shape[1] if "transpose" in name else w.shape[0])
    with torch.no_grad():
        fwd = t(lambda: f(x,w,b))
    xs, ws, bs = x.clone().requires_grad_(), w.clone().requires_grad_(), b.clone().requires_grad_()
    gy = torch.randn(f(x,w,b).shape)
    def fb():
        xs.grad=ws.grad=bs.grad=None
        f(xs,ws,bs).backward(gy)
    print(f"{name}: forward {fwd:.1f} ms, forward+backward {t(fb):.1f} ms")
print("torch", torch.__version__, "mkldnn", torch.backends.mkldnn.is_available())
