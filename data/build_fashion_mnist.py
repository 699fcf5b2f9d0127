"""Build data/fashion_mnist/, the full Fashion-MNIST the kit ships for offline work.

Source: the Debian package ``dataset-fashion-mnist`` (version 0.0~git20200523.55506a9-1, MIT licence,
copyright 2017 Zalando SE), which installs Zalando Research's four original IDX files, gzip-compressed,
in /usr/share/datasets/fashion-mnist/:

    train-images-idx3-ubyte.gz   60,000 images, 28x28, uint8
    train-labels-idx1-ubyte.gz   60,000 labels, 0-9
    t10k-images-idx3-ubyte.gz    10,000 images
    t10k-labels-idx1-ubyte.gz    10,000 labels

These are the four files, with the same names and format, that ``keras.datasets.fashion_mnist`` downloads
(Debian's build recompressed the gzip streams, so their bytes differ from Zalando's download). The script
copies them verbatim, so the shipped set is the full set. It refuses a .deb whose SHA-256 is not
the recorded one and checks every extracted file against its recorded SHA-256 and its IDX header
(magic number 2051 for images, 2049 for labels, big-endian sizes), so rebuilding gives the same bytes as
data/SHA256SUMS.

Usage (needs apt-get and dpkg-deb, and access to a Debian mirror, or a .deb you already have; no root
needed for the download):
    python data/build_fashion_mnist.py                       # runs `apt-get download` in a temp dir
    python data/build_fashion_mnist.py --deb dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb
"""
import argparse
import gzip
import hashlib
import pathlib
import shutil
import subprocess
import tempfile

PACKAGE = "dataset-fashion-mnist"
VERSION = "0.0~git20200523.55506a9-1"
DEB_SHA256 = "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0"
INSTALLED_DIR = "usr/share/datasets/fashion-mnist"  # where the package puts the files
# file name -> (SHA-256 of the .gz file, IDX magic number, sizes from the IDX header)
FILES = {
    "train-images-idx3-ubyte.gz": ("b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
                                   2051, (60000, 28, 28)),
    "train-labels-idx1-ubyte.gz": ("0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
                                   2049, (60000,)),
    "t10k-images-idx3-ubyte.gz": ("cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
                                  2051, (10000, 28, 28)),
    "t10k-labels-idx1-ubyte.gz": ("8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
                                  2049, (10000,)),
}
HERE = pathlib.Path(__file__).resolve().parent


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def fetch_deb(workdir):
    """Download the pinned version of the package from the configured Debian mirror."""
    subprocess.run(["apt-get", "download", f"{PACKAGE}={VERSION}"], cwd=workdir, check=True)
    debs = sorted(pathlib.Path(workdir).glob(f"{PACKAGE}_*.deb"))
    if len(debs) != 1:
        raise SystemExit(f"apt-get download left {len(debs)} .deb files in {workdir}, expected one")
    return debs[0]


def check_idx(path, magic, sizes):
    """The gzip stream holds an IDX file with this magic number and these sizes, and nothing else."""
    raw = gzip.decompress(pathlib.Path(path).read_bytes())
    found = int.from_bytes(raw[:4], "big")
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(len(sizes)))
    payload = len(raw) - 4 - 4 * len(sizes)
    expected_payload = 1
    for size in sizes:
        expected_payload *= size
    if found != magic or dims != sizes or payload != expected_payload:
        raise SystemExit(f"{path}: IDX header says magic {found}, sizes {dims}, {payload} data bytes; "
                         f"expected magic {magic}, sizes {sizes}, {expected_payload} data bytes")
    if magic == 2049 and max(raw[8:]) > 9:
        raise SystemExit(f"{path}: a label is {max(raw[8:])}, Fashion-MNIST has classes 0-9")


def extract(deb, out_dir):
    """Check the .deb, unpack it with dpkg-deb and copy the four files, checked, into out_dir."""
    digest = sha256(deb)
    if digest != DEB_SHA256:
        raise SystemExit(f"{deb}: sha256 {digest} is not the recorded {DEB_SHA256}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as unpacked:
        subprocess.run(["dpkg-deb", "-x", str(deb), unpacked], check=True)
        for name, (expected, magic, sizes) in FILES.items():
            source = pathlib.Path(unpacked) / INSTALLED_DIR / name
            digest = sha256(source)
            if digest != expected:
                raise SystemExit(f"{source}: sha256 {digest} is not the recorded {expected}")
            check_idx(source, magic, sizes)
            shutil.copyfile(source, out_dir / name)
            print(f"wrote {out_dir / name}: {sizes[0]:,} {'images' if magic == 2051 else 'labels'}, "
                  f"sha256 {digest}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deb", help=f"an already downloaded {PACKAGE}_{VERSION}_all.deb")
    parser.add_argument("--out", default=str(HERE / "fashion_mnist"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        deb = pathlib.Path(args.deb) if args.deb else fetch_deb(workdir)
        extract(deb, pathlib.Path(args.out))


if __name__ == "__main__":
    main()
