"""smtp_server.py — a tiny SMTP server (stdlib sockets, one thread per client), the
FALLBACK of the live-capture test when Postfix is not installed (test_live.py uses a
private Postfix otherwise): greets, answers EHLO/HELO/MAIL/RCPT/DATA/RSET/NOOP/QUIT
with fixed replies (RCPT TO:<rejected@live.test> gets the same 550 5.1.1 text as
the Postfix variant), reads DATA to the lone dot and gives each message a queue id
Q0001, Q0002... It delivers nothing and stores nothing."""
import socket
import threading


class TinySMTP:
    def __init__(self, host="127.0.0.1", port=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        f = conn.makefile("rb")
        send = lambda s: conn.sendall(s.encode() + b"\r\n")
        send("220 mx.live.test ESMTP tiny")
        while True:
            line = f.readline()
            if not line:
                break
            verb = line.strip().split(b" ")[0].upper()
            if verb == b"EHLO":
                send("250-mx.live.test")
                send("250-PIPELINING")
                send("250 8BITMIME")
            elif verb == b"HELO":
                send("250 mx.live.test")
            elif verb in (b"MAIL", b"RSET", b"NOOP"):
                send("250 2.1.0 Ok")
            elif verb == b"RCPT" and b"<rejected@live.test>" in line:
                send("550 5.1.1 <rejected@live.test>: Recipient address rejected: "
                     "Mailbox unavailable (smtpsift live test)")
            elif verb == b"RCPT":
                send("250 2.1.5 Ok")
            elif verb == b"DATA":
                send("354 End data with <CR><LF>.<CR><LF>")
                while True:
                    l = f.readline()
                    if not l or l == b".\r\n":
                        break
                with self.lock:
                    self.count += 1
                    qid = "Q%04d" % self.count
                send("250 2.0.0 Ok: queued as " + qid)
            elif verb == b"QUIT":
                send("221 2.0.0 Bye")
                break
            else:
                send("502 5.5.2 Error: command not recognized")
        f.close()
        conn.close()

    def close(self):
        self.sock.close()
