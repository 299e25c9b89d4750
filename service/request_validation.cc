// placeholder, filled in this session
