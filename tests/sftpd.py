"""An SSH server with SFTP on loopback, for the SSH remote tests (run by ``servers.py``).

asyncssh's own server (asyncssh arrives with dvc-ssh, through sshfs, in the ``dev`` extra):
public-key authentication against an authorized-keys file, SFTP on the machine's file
system by absolute paths, as OpenSSH's ``internal-sftp`` serves them; no shell, no
passwords. It runs in its own process, like a real server, until it is terminated.

    python tests/sftpd.py PORT HOST_KEY AUTHORIZED_KEYS
"""

from __future__ import annotations

import asyncio
import signal
import sys

import asyncssh


async def serve(port: int, host_key: str, authorized_keys: str) -> None:
    server = await asyncssh.listen(
        "127.0.0.1", port, server_host_keys=[host_key], authorized_client_keys=authorized_keys,
        sftp_factory=True, allow_scp=False, password_auth=False, kbdint_auth=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
