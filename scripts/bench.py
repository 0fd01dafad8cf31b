"""``make bench``: time the project's Trainer path against the tutorial's hand loop, print ratios.

python scripts/bench.py [--quick] [--output logs/bench/bench.json]
"""

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the bench runs, not the targets")
    parser.add_argument("--output", type=Path, default=Path("logs/bench/bench.json"), help="where the JSON goes")
    args = parser.parse_args()
    from mlplab.bench.run import run  # torch and lightning only once we really run

    run(args.quick, args.output)


if __name__ == "__main__":
    main()
