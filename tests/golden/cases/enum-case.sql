SELECT disposition, dkim, spf, dmarc_pass, count FROM records ORDER BY id;
