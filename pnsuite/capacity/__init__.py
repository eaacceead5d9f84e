"""How many camera streams a configuration serves within a frame deadline: the deadline
rule (rule.py) and the search for the largest number of streams that meets it (search.py),
over runs of pnsuite.client.camera_streams."""
