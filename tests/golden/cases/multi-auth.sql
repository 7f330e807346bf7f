SELECT count, COALESCE(json_array_length(dkim_results), 0), COALESCE(json_array_length(spf_results), 0) FROM records ORDER BY id;
