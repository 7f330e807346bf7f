SELECT count, COALESCE(json_array_length(reasons), 0), json_extract(reasons, '$[0].type'), json_extract(reasons, '$[0].comment'), json_extract(reasons, '$[3].comment') FROM records ORDER BY id;
