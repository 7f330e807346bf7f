SELECT subject, source_ip, original_rcpt_to FROM failures;
