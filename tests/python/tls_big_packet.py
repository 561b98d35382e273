"""Switches to TLS as a client would (SSLRequest, then the TLS handshake), then announces a
16 MiB packet inside TLS and sends nothing more. Prints how the proxy answered within 5 s:
`closed` (the connection ended, after an error packet or not) or `waited`.

usage: tls_big_packet.py HOST PORT
"""
import socket
import ssl
import struct
import sys

host, port = sys.argv[1], int(sys.argv[2])
sock = socket.create_connection((host, port), timeout=5)


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


header = recv_exact(sock, 4)
recv_exact(sock, header[0] | header[1] << 8 | header[2] << 16)  # the greeting
# SSLRequest: PROTOCOL_41 | SSL | SECURE_CONNECTION | PLUGIN_AUTH | LONG_PASSWORD.
caps = 0x200 | 0x800 | 0x8000 | 0x80000 | 0x1
payload = struct.pack("<IIB", caps, 1 << 24, 45) + b"\0" * 23
sock.sendall(struct.pack("<I", len(payload))[:3] + bytes([1]) + payload)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
tls = context.wrap_socket(sock)
# Inside TLS: a packet of 16 MiB announced, nothing more sent.
tls.sendall(b"\xff\xff\xff\x02")
try:
    while True:
        data = tls.recv(4096)
        if not data:
            print("closed")
            break
except socket.timeout:
    print("waited")
except (ConnectionError, ssl.SSLError, EOFError):
    print("closed")
