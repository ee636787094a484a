import pytest

from cudaswitch.compat.verdict import builds_for, driver_cuda_for, verdict_for
from cudaswitch.host import Gpu, Host
from cudaswitch.versions import CudaVersion


def host(driver, *ccs, brand="NVIDIA"):
    return Host(driver, None, tuple(Gpu(i, f"gpu{i}", brand, cc) for i, cc in enumerate(ccs)))


@pytest.mark.parametrize("cuda,driver,ccs,kind", [
    ("12.2", "525.60.13", ("9.0",), "minor-compat"),
    ("12.2", "535.54.03", ("9.0",), "native"),
    ("12.2", "520.61.05", ("9.0",), "unsupported"),
    ("11.8", "450.80.02", ("8.0",), "minor-compat"),
    ("11.8", "450.36.06", ("8.0",), "unsupported"),
    ("11.8", "580.159.04", ("9.0",), "native"),
    ("11.8", "580.159.04", ("12.0",), "unsupported"),
    ("12.4", "580.159.04", ("12.0",), "unsupported"),
    ("12.8", "580.159.04", ("12.0",), "native"),
    ("13.0", "580.159.04", ("7.0",), "unsupported"),
    ("13.0", "580.159.04", ("7.5",), "native"),
    ("13.5", "580.65.06", ("9.0",), "minor-compat"),
    ("13.0", "575.57.08", ("9.0",), "unsupported"),
    ("10.2", "440.33", (), "native"),
    ("12.4", None, (), "unknown"),
], ids=lambda x: str(x))
def test_verdicts(cuda, driver, ccs, kind):
    assert verdict_for(CudaVersion.parse(cuda), host(driver, *ccs)).kind == kind


def test_unsupported_says_which_driver_is_needed():
    v = verdict_for(CudaVersion.parse("12.2"), host("470.82.01", "8.0"))
    assert v.kind == "unsupported" and v.needs_driver == "525.60.13"
    assert "470.82.01" in v.reason and "525.60.13" in v.reason


def test_arch_reason_names_the_gpu():
    v = verdict_for(CudaVersion.parse("11.8"), host("580.159.04", "12.0"))
    assert "sm_120" in v.reason and "11.8" in v.reason


def test_forward_compat_needs_datacenter_gpu_and_compat_libs():
    v13 = CudaVersion.parse("13.0")
    dc = host("535.104.05", "9.0", brand="NVIDIA")
    assert verdict_for(v13, dc, compat_driver="580.95.05").kind == "forward-compat"
    assert verdict_for(v13, dc).kind == "unsupported"
    geforce = host("535.104.05", "8.9", brand="GeForce RTX")
    assert verdict_for(v13, geforce, compat_driver="580.95.05").kind == "unsupported"


@pytest.mark.parametrize("driver,cuda", [("470.82.01", "11.4"), ("580.159.04", "13.0"),
                                         ("525.60.13", "12.0"), ("610.43.02", "13.3")])
def test_driver_cuda(driver, cuda):
    assert driver_cuda_for(driver) == CudaVersion.parse(cuda)


@pytest.mark.parametrize("cuda,cc,ok", [("11.0", "8.6", False), ("11.4", "8.6", True),
                                        ("11.8", "9.0", True), ("12.0", "3.7", False),
                                        ("12.9", "12.1", True), ("13.1", "7.5", True)])
def test_builds_for(cuda, cc, ok):
    assert builds_for(CudaVersion.parse(cuda), cc) is ok
