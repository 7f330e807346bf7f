SELECT hex(source_ip), count FROM records ORDER BY id;
