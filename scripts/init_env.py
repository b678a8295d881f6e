"""Create .env from .env.example with a fresh SECRET_KEY, unless .env exists."""

import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Write .env once; never touch an existing one."""
    target, example = ROOT / ".env", ROOT / ".env.example"
    if target.exists():
        print(".env exists; leaving it as it is")
        return 0
    lines = []
    for line in example.read_text().splitlines():
        if line.startswith("SECRET_KEY="):
            line = f"SECRET_KEY={secrets.token_urlsafe(50)}"
        lines.append(line)
    target.write_text("\n".join(lines) + "\n")
    target.chmod(0o600)
    print("created .env from .env.example with a fresh SECRET_KEY")
    return 0


if __name__ == "__main__":
    sys.exit(main())
