SELECT COUNT(*), SUM(count), COUNT(reasons), COUNT(envelope_to) FROM records;
SELECT SUM(messages), SUM(records) FROM daily;
SELECT count, envelope_to, reasons, dkim_results, spf_results FROM records ORDER BY id LIMIT 4 OFFSET 4094;
SELECT count, envelope_to, reasons, dkim_results, spf_results FROM records ORDER BY id LIMIT 2 OFFSET 4998;
