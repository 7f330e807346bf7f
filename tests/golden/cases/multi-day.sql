SELECT day, SUM(messages) FROM daily GROUP BY day ORDER BY day;
