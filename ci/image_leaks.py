"""Reads `docker save` output on stdin and fails when any layer holds a
certificate of this machine's CA bundle that the image's own bundle does not
have (a TLS-intercepting proxy's CA, say): such a file came from the build
machine, not from the image's packages.

Usage: docker save IMAGE | python3 ci/image_leaks.py MACHINE_BUNDLE IMAGE_BUNDLE
"""
import re
import sys
import tarfile

PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\s+(.+?)-----END CERTIFICATE-----", re.S)


def bodies(data):
    return {b"".join(m.group(1).split()) for m in PEM.finditer(data)}


def main():
    machine_path, image_path = sys.argv[1], sys.argv[2]
    if not machine_path:
        print("images: no SSL_CERT_FILE; nothing machine-specific to look for")
        return 0
    with open(machine_path, "rb") as f:
        machine = bodies(f.read())
    with open(image_path, "rb") as f:
        image = bodies(f.read())
    foreign = machine - image
    if not foreign:
        print("images: this machine's CA bundle has nothing the image's lacks")
        return 0
    # The first 48 base64 characters of each certificate are enough to find it.
    needles = {cert[:48] for cert in foreign}
    found = []
    with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as outer:
        for member in outer:
            if not member.isfile() or not member.name.endswith(".tar"):
                continue
            layer = outer.extractfile(member)
            with tarfile.open(fileobj=layer, mode="r|") as inner:
                for item in inner:
                    if not item.isfile():
                        continue
                    data = inner.extractfile(item).read()
                    flat = b"".join(data.split())
                    if any(n in flat for n in needles):
                        found.append(f"{member.name}: {item.name}")
    if found:
        print("images: the image holds this machine's CA certificates:", file=sys.stderr)
        for f in found:
            print(f"  {f}", file=sys.stderr)
        return 1
    print(f"images: none of this machine's {len(foreign)} extra CA certificate(s) is in the image")
    return 0


if __name__ == "__main__":
    sys.exit(main())
