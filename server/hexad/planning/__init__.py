"""Planning: tasks broken into steps, validated against the index, replanned on failure."""
