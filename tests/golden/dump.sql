-- Canonical dump of everything a user would check, without volatile values
-- (wall-clock times, row ids of other runs). Packet numbers and packet
-- timestamps are stable: the capture files are committed.
SELECT s.uid, s.client_ip, s.client_port, s.server_ip, s.server_port, s.ip_version, s.first_packet,
       s.last_packet, printf('%.6f', s.start_ts) AS start_ts, s.close_reason, s.banner_code, s.banner,
       s.helo_verb, s.helo, s.extensions, s.pipelining_offered, s.pipelining_used, s.n_commands,
       s.n_messages, s.quit, s.bytes_c2s, s.bytes_s2c
FROM sessions s ORDER BY s.id;
SELECT s.uid, c.seq, c.verb, c.args, c.reply_code, c.enhanced_code, replace(c.reply_text, char(10), ' | ') AS reply_text,
       c.cmd_packet, c.reply_packet, c.txn
FROM commands c JOIN sessions s ON s.id = c.session_id ORDER BY c.session_id, c.seq;
SELECT s.uid, m.seq, m.mail_from, m.mail_params, m.mail_reply_code, m.disposition, m.has_content, m.data_reply_code,
       m.queue_id, m.size, m.sha256, m.truncated, m.terminator, m.parsed, m.subject, m.from_addr, m.from_name,
       m.date, m.date_ts, m.message_id, m.n_recipients, m.n_accepted, m.n_parts, m.n_attachments,
       m.first_packet, m.last_packet
FROM messages m JOIN sessions s ON s.id = m.session_id ORDER BY m.id;
SELECT m.message_id, r.seq, r.address, r.params, r.reply_code, r.accepted, r.packet
FROM recipients r JOIN messages m ON m.id = r.message_id ORDER BY r.id;
SELECT m.message_id, a.field, a.seq, a.name, a.address, a.domain, a.grp
FROM addresses a JOIN messages m ON m.id = a.message_id ORDER BY a.id;
SELECT m.message_id, p.seq, p.path, p.content_type, p.charset, p.encoding, p.disposition, p.filename, p.size,
       p.sha256, p.is_attachment
FROM parts p JOIN messages m ON m.id = p.message_id ORDER BY p.id;
SELECT m.message_id, count(*) AS headers, sum(length(h.raw)) AS raw_bytes
FROM headers h JOIN messages m ON m.id = h.message_id GROUP BY h.message_id ORDER BY h.message_id;
SELECT f.rule, f.severity, f.detail, f.packet, s.uid
FROM findings f LEFT JOIN sessions s ON s.id = f.session_id ORDER BY f.rule, f.packet, f.detail;
SELECT format, link_type, link_name, packets, status FROM captures ORDER BY id;
