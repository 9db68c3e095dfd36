"""``benchmarks/profile_step.py``'s oneDNN log summary, checked on a hand-written log."""

from tests.benchmark_scripts import benchmark_script

LOG = """onednn_verbose,v1,info,cpu,runtime:OpenMP,nthr:2
onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx10_1_512_amx,forward_training,src:bf16,,alg:convolution_direct,mb64_ic64oc64,2.5
onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx10_1_512_amx,forward_training,src:bf16,,alg:convolution_direct,mb64_ic64oc64,1.5
onednn_verbose,v1,primitive,exec,cpu,convolution,brgconv_bwd_w:avx10_1_512_amx,backward_weights,src:bf16,,alg:convolution_direct,mb64_ic64oc64,7.0
onednn_verbose,v1,primitive,create:cache_miss,cpu,convolution,brg_conv_fwd:avx10_1_512_amx,forward_training,src:bf16,,alg:convolution_direct,mb64_ic64oc64,9.0
not a oneDNN line at all, with, enough, commas, to, look, like, one, 3.0
"""


def test_the_onednn_summary_sums_execution_lines_only_per_primitive():
    with benchmark_script("profile_step") as profile_step:
        rows = profile_step.onednn_time_by_primitive(LOG.splitlines())
    assert rows == [
        ("convolution | brgconv_bwd_w:avx10_1_512_amx | backward_weights", 7.0, 1),
        ("convolution | brg_conv_fwd:avx10_1_512_amx | forward_training", 4.0, 2),
    ]
