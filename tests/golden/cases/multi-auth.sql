SELECT count, json_array_length(dkim_results), json_array_length(spf_results) FROM records ORDER BY id;
