SELECT reporter, report_id, policy_domain, date_begin, day, policies, failure_details, success, failure FROM tls_reports;
