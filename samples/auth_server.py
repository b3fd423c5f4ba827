#!/usr/bin/env python3
"""auth_server.py — a tiny SMTP server (stdlib socket + ssl only) that speaks just enough
ESMTP for the AUTH and STARTTLS sample captures: EHLO (offering STARTTLS, AUTH PLAIN LOGIN,
SIZE), AUTH PLAIN (with or without initial response) and LOGIN checked against one fixed
account, STARTTLS with a certificate given on the command line, MAIL/RCPT/DATA/RSET/NOOP/QUIT.
It is NOT a mail server: messages are discarded. Serves COUNT connections, one at a time.
Usage: auth_server.py ADDR PORT CERT KEY COUNT"""
import base64
import socket
import ssl
import sys

ADDR, PORT, CERT, KEY, COUNT = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
ACCOUNT = ("alice@example.test", "wonderland-42")
HOST = "mx.example.test"


class Conn:
    def __init__(self, sock):
        self.sock, self.buf, self.tls = sock, b"", False

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")


def check(user, password):
    return (user, password) == ACCOUNT


def b64(text):
    return base64.b64encode(text.encode()).decode()


def serve(c, ctx):
    c.send(f"220 {HOST} ESMTP smtpsift-auth-test")
    authed = False
    while True:
        line = c.line()
        if line is None:
            return
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        if verb == "EHLO":
            ext = ["PIPELINING", "SIZE 10240000"] + ([] if c.tls else ["STARTTLS"]) + ["AUTH PLAIN LOGIN", "8BITMIME"]
            c.send(f"250-{HOST}")
            for i, e in enumerate(ext):
                c.send(("250 " if i == len(ext) - 1 else "250-") + e)
        elif verb == "STARTTLS" and not c.tls:
            c.send("220 2.0.0 Ready to start TLS")
            c.sock = ctx.wrap_socket(c.sock, server_side=True)
            c.tls, c.buf = True, b""
        elif verb == "AUTH" and not authed:
            mech, _, ir = arg.partition(" ")
            mech = mech.upper()
            try:
                if mech == "PLAIN":
                    if not ir:
                        c.send("334 ")
                        ir = c.line() or "*"
                    if ir == "*":
                        c.send("501 5.7.0 Authentication aborted")
                        continue
                    _, user, password = base64.b64decode(ir).decode().split("\0")
                elif mech == "LOGIN":
                    if ir:
                        user = base64.b64decode(ir).decode()
                    else:
                        c.send("334 " + b64("Username:"))
                        r = c.line() or "*"
                        if r == "*":
                            c.send("501 5.7.0 Authentication aborted")
                            continue
                        user = base64.b64decode(r).decode()
                    c.send("334 " + b64("Password:"))
                    r = c.line() or "*"
                    if r == "*":
                        c.send("501 5.7.0 Authentication aborted")
                        continue
                    password = base64.b64decode(r).decode()
                else:
                    c.send("504 5.5.4 Unrecognized authentication type")
                    continue
            except ValueError:
                c.send("501 5.5.2 Cannot decode response")
                continue
            if check(user, password):
                authed = True
                c.send("235 2.7.0 Authentication successful")
            else:
                c.send("535 5.7.8 Error: authentication failed")
        elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
            c.send("250 2.0.0 Ok")
        elif verb == "DATA":
            c.send("354 End data with <CR><LF>.<CR><LF>")
            while True:
                l = c.line()
                if l is None:
                    return
                if l == ".":
                    break
            c.send("250 2.0.0 Ok: queued as AUTHTEST1")
        elif verb == "QUIT":
            c.send("221 2.0.0 Bye")
            return
        else:
            c.send("502 5.5.2 Error: command not recognized")


def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT, KEY)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((ADDR, PORT))
    srv.listen(1)
    print("listening", flush=True)
    for _ in range(COUNT):
        s, _ = srv.accept()
        try:
            serve(Conn(s), ctx)
        except (OSError, ssl.SSLError) as e:
            print("connection ended:", e, flush=True)
        finally:
            try:
                s.close()
            except OSError:
                pass
    srv.close()


if __name__ == "__main__":
    main()
