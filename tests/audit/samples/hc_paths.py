from pathlib import Path

LOG_DIR = Path("/var/log/controlplane")  # expect: AUD106


def socket_path():
    return "/tmp/agent.sock"  # expect: AUD106


def home_config():
    return Path("~/.config/agent/config.toml").expanduser()  # expect: AUD106
