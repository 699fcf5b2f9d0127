"""The machine's float32 GEMM rate over matrix sizes: the peak the other benchmarks are compared to."""
from hpml_helpers import bench


def run(quick=False):
    """One row per matrix size, plus the peak."""
    sizes = (256, 1024, 2048) if quick else (128, 256, 512, 1024, 2048, 4096)
    results = bench.gemm_gflops(sizes, repeats=3 if quick else 5)
    rows = [{"benchmark": "numpy float32 GEMM", "case": f"n={row['size']}", "value": row["gflops"],
             "unit": "GFLOP/s", "note": f"{row['seconds'] * 1e3:.2f} ms per product"} for row in results]
    rows.append({"benchmark": "numpy float32 GEMM", "case": "peak", "value": bench.peak_gflops(results),
                 "unit": "GFLOP/s", "note": "best over the sizes above"})
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
