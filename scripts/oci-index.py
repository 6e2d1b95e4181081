#!/usr/bin/env python3
"""Turns a `docker save` archive of one program's per-architecture images into one OCI image
layout whose index is the multi-arch image (a manifest list):

    docker save roundhouse-edge:0.1.0-arm64 roundhouse-edge:0.1.0-armhf \\
      | oci-index.py build-images/oci/roundhouse-edge 0.1.0

writes DIR/oci-layout, DIR/index.json (one entry, ref.name REF, pointing to an image index
with one manifest per platform, taken from each image's configuration) and DIR/blobs/sha256/.
Push it to a registry with `skopeo copy --all oci:DIR:REF docker://HOST/roundhouse-edge:REF`.

Why it exists: Debian 12 packages no buildx, and `docker manifest create` only combines
images that are already in a registry; none is used here. The layers are stored as docker
saved them, uncompressed (media type ...layer.v1.tar, valid OCI; skopeo compresses them on a
push with --dest-compress). Used by scripts/build-images --oci (docs/deploy.md).
"""
import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"
MAX_IMAGES = 16


class Layout:
    def __init__(self, path):
        self.blobs = os.path.join(path, "blobs", "sha256")
        os.makedirs(self.blobs, exist_ok=True)

    def put_bytes(self, data, media_type, **extra):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.blobs, digest), "wb") as f:
            f.write(data)
        return dict(mediaType=media_type, digest="sha256:" + digest, size=len(data), **extra)

    def put_stream(self, src, media_type):
        h = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=self.blobs)
        size = 0
        with os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
                size += len(chunk)
        os.replace(tmp, os.path.join(self.blobs, h.hexdigest()))
        return {"mediaType": media_type, "digest": "sha256:" + h.hexdigest(), "size": size}


def canonical(doc):
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def main(argv):
    if len(argv) not in (3, 4):
        print("usage: oci-index.py OUT_DIR REF [ARCHIVE.tar|-]  (default: stdin)", file=sys.stderr)
        return 2
    out_dir, ref = argv[1], argv[2]
    src = argv[3] if len(argv) == 4 else "-"
    if not ref or len(ref) > 128 or any(c in ref for c in "/: \t\n"):
        print("oci-index: REF '%s': a tag without '/', ':' or spaces" % ref, file=sys.stderr)
        return 2
    if os.path.exists(os.path.join(out_dir, "index.json")):
        print("oci-index: %s already holds a layout" % out_dir, file=sys.stderr)
        return 1
    spool = None
    try:
        if src == "-":  # tarfile needs to seek: spool stdin to a file next to the layout
            os.makedirs(out_dir, exist_ok=True)
            spool = tempfile.NamedTemporaryFile(dir=out_dir, suffix=".tar", delete=False)
            shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
            spool.close()
            src = spool.name
        layout = Layout(out_dir)
        with tarfile.open(src, "r:") as tar:
            try:
                saved = json.load(tar.extractfile("manifest.json"))
            except (KeyError, ValueError) as e:
                print("oci-index: %s: no docker save manifest.json (%s)" % (src, e), file=sys.stderr)
                return 1
            if not isinstance(saved, list) or not 0 < len(saved) <= MAX_IMAGES:
                print("oci-index: %s: 1 to %d images expected" % (src, MAX_IMAGES), file=sys.stderr)
                return 1
            entries, platforms = [], set()
            for image in saved:
                config_bytes = tar.extractfile(image["Config"]).read()
                config = json.loads(config_bytes)
                platform = {"architecture": config["architecture"], "os": config["os"]}
                if config.get("variant"):
                    platform["variant"] = config["variant"]
                key = tuple(sorted(platform.items()))
                if key in platforms:
                    print("oci-index: two images for %s" % platform, file=sys.stderr)
                    return 1
                platforms.add(key)
                layers = [layout.put_stream(tar.extractfile(name), LAYER) for name in image["Layers"]]
                manifest = {"schemaVersion": 2, "mediaType": MANIFEST,
                            "config": layout.put_bytes(config_bytes, CONFIG), "layers": layers}
                entries.append(layout.put_bytes(canonical(manifest), MANIFEST, platform=platform))
        index = layout.put_bytes(canonical({"schemaVersion": 2, "mediaType": INDEX,
                                            "manifests": entries}), INDEX,
                                 annotations={"org.opencontainers.image.ref.name": ref})
        with open(os.path.join(out_dir, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        with open(os.path.join(out_dir, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "mediaType": INDEX, "manifests": [index]}, f)
    except (OSError, KeyError, ValueError, tarfile.TarError) as e:
        print("oci-index: %s: %s" % (src, e), file=sys.stderr)
        return 1
    finally:
        if spool is not None and os.path.exists(spool.name):
            os.unlink(spool.name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
