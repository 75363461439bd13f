"""Run ``atlas`` with the given arguments (as the command line does) and write, beside the export,
``digests.json``: the SHA-256 of every layout's, the embedding's and every region table's bytes,
so that a test can compare the projections that a build computes but does not export.

    python tests/build_digest.py DIGESTS_JSON build --demo ... --out DIR
"""

from __future__ import annotations

import hashlib
import json
import sys

import atlas.build
from atlas.cli import main


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run(digests_path: str, argv: list[str]) -> int:
    results = []
    result_of = atlas.build.Build.result

    def recording(self):
        result = result_of(self)
        results.append(result)
        return result

    atlas.build.Build.result = recording
    code = main(argv)
    digests = {}
    for result in results:
        digests["embedding"] = _sha(result.embedding.coords.tobytes())
        for name, layout in result.layouts.items():
            digests[f"layout {name}"] = _sha(layout.xy.tobytes())
        for name, regions in result.regions.items():
            digests[f"regions {name}"] = _sha(regions.labels.tobytes() + regions.table.to_csv(index=False).encode())
        digests["threads"] = result.threads
    with open(digests_path, "w", encoding="utf-8") as out:
        json.dump(digests, out, indent=1)
    return code


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], sys.argv[2:]))
