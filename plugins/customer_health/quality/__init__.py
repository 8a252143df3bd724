"""Great Expectations gates between building and publishing."""
