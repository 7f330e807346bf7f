SELECT reported_domain, source_ip, auth_failure, delivery_result, identity_alignment, original_rcpt_to, subject, header_from_domain, instr(headers, 'Please pay') FROM failures;
