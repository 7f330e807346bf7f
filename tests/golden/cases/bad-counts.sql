SELECT count FROM records ORDER BY id;
