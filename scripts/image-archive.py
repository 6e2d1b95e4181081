#!/usr/bin/env python3
"""Writes a `docker load` archive of one image made from a root file system tarball, with the
platform (os, architecture, variant) written into the image's configuration.

    image-archive.py ROOTFS.tar TAG PLATFORM [-o OUT.tar]     (PLATFORM: linux/arm64/v8,
                                                              linux/arm/v7, linux/amd64)
    image-archive.py ROOTFS.tar roundhouse-runtime-edge:arm64 linux/arm64/v8 | docker load

Why it exists: `docker import --platform` of Debian 12's docker.io (20.10) records the host's
architecture whatever the flag says, and Debian 12 packages neither buildx nor a tool that
writes an image configuration (skopeo copies images, it does not make them from a tarball).
The format is the one `docker save` writes (manifest.json, the configuration and one
uncompressed layer); `docker load` checks the layer's digest against the configuration. A
`docker build` FROM this image keeps its architecture and variant. Used by scripts/build-images
(docs/deploy.md, "ARM images").
"""
import argparse
import hashlib
import io
import json
import os
import sys
import tarfile
import time

ARCHES = {"amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64"}


def parse_platform(text):
    parts = text.split("/")
    if len(parts) not in (2, 3) or parts[0] != "linux" or parts[1] not in ARCHES:
        raise ValueError(f"platform '{text}': expected linux/ARCH[/VARIANT]")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else ""


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def add_bytes(tar, name, data, mtime):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = mtime
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rootfs", help="root file system as an uncompressed tar")
    ap.add_argument("tag", help="image reference, NAME:TAG")
    ap.add_argument("platform", help="linux/ARCH[/VARIANT]")
    ap.add_argument("-o", "--output", default="-", help="archive path (default: stdout)")
    ap.add_argument("--created-by", default="mmdebstrap --variant=extract (scripts/build-images)",
                    help="the history entry's text")
    args = ap.parse_args()
    try:
        os_name, arch, variant = parse_platform(args.platform)
    except ValueError as e:
        print(f"image-archive: {e}", file=sys.stderr)
        return 2
    if ":" not in args.tag.rsplit("/", 1)[-1]:
        print(f"image-archive: tag '{args.tag}': expected NAME:TAG", file=sys.stderr)
        return 2
    try:
        with open(args.rootfs, "rb") as f:
            if len(f.read(512)) < 512:
                raise OSError("shorter than one tar block")
        diff_id = sha256_file(args.rootfs)
    except OSError as e:
        print(f"image-archive: {args.rootfs}: {e}", file=sys.stderr)
        return 1

    # SOURCE_DATE_EPOCH, when set, makes the image id reproducible.
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    config = {
        "architecture": arch,
        "os": os_name,
        "created": created,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/bash"],
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [{"created": created, "created_by": args.created_by}],
    }
    if variant:
        config["variant"] = variant
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = f"{diff_id}/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [args.tag], "Layers": [layer_name]}]

    out = sys.stdout.buffer if args.output == "-" else open(args.output, "wb")
    try:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            add_bytes(tar, config_name, config_bytes, epoch)
            tar.add(args.rootfs, arcname=layer_name, recursive=False)
            add_bytes(tar, "manifest.json", json.dumps(manifest).encode(), epoch)
    except BrokenPipeError:
        print("image-archive: the reader went away (docker load failed?)", file=sys.stderr)
        return 1
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
