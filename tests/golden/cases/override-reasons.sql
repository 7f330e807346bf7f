SELECT count, json_array_length(reasons) FROM records ORDER BY id;
