# A pty whose other end is this process's stdin/stdout, as socat or ser2net give: the test prints the
# pty's path, then relays bytes both ways until stdin closes.
import os, select, sys, tty

master, slave = os.openpty()
tty.setraw(slave)
print(os.ttyname(slave), flush=True)
out = sys.stdout.fileno()
inp = sys.stdin.fileno()
while True:
    ready, _, _ = select.select([master, inp], [], [])
    if master in ready:
        try:
            data = os.read(master, 65536)
        except OSError:
            data = b""
        if data:
            os.write(out, data)
    if inp in ready:
        data = os.read(inp, 65536)
        if not data:
            break
        os.write(master, data)
