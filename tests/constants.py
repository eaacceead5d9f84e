"""PeopleNet's facts that tests compare against and no library module holds.

Paths and tensor names are the library's (pnsuite.paths, pnsuite.detection.detectnet):
tests import those from there.
"""

#: The model's name in every repository the suite serves.
MODEL = "peoplenet"
#: PeopleNet's max_batch_size, which every repository's config.pbtxt keeps.
MAX_BATCH_SIZE = 64
