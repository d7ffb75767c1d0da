"""Parses a Prometheus text exposition from stdin with the Prometheus
project's own parser (prometheus_client) and prints what it understood as
JSON: {family: {"type": ..., "samples": [[name, labels, value], ...]}}.

Exits non-zero (with the parser's error on stderr) if the text is invalid.
"""

import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> None:
    text = sys.stdin.read()
    families = {}
    for family in text_string_to_metric_families(text):
        if family.name in families:
            raise SystemExit(f"family {family.name} appears twice")
        families[family.name] = {
            "type": family.type,
            "samples": [
                [s.name, s.labels, None if math.isnan(s.value) else s.value]
                for s in family.samples
            ],
        }
    json.dump(families, sys.stdout)


if __name__ == "__main__":
    main()
