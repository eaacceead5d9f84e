"""The fleet storage URL that Jetson CI passes to --benchmark-storage, read by
pytest-benchmark's own parser.

No Elasticsearch or OpenSearch server installs here (none is packaged for Debian, PyPI or
npm), so nothing is stored: these check that the URL names the host, index, doctype and
project it is meant to, using pytest-benchmark's own parser (real code, no server and no
mock).
"""

from __future__ import annotations

from pytest_benchmark.utils import parse_elasticsearch_storage

#: The --benchmark-storage value of a Jetson fleet's benchmark store.
STORAGE_URL = ("elasticsearch+https://es.example.com:9200/peoplenet/benchmark"
               "?project_name=peoplenet-triton")


def test_the_storage_url_names_host_index_doctype_and_project():
    assert STORAGE_URL.startswith("elasticsearch+https://")
    hosts, index, doctype, project = parse_elasticsearch_storage(
        STORAGE_URL[len("elasticsearch+"):])
    assert hosts == ["https://es.example.com:9200"]
    assert (index, doctype, project) == ("peoplenet", "benchmark", "peoplenet-triton")


def test_netrc_credentials_are_added_to_every_host(tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine es.example.com login ci password s3cret\n")
    netrc.chmod(0o600)
    url = STORAGE_URL.replace("es.example.com:9200", "es.example.com:9200,es.example.com:9201")
    hosts, *_ = parse_elasticsearch_storage(url[len("elasticsearch+"):], netrc_file=str(netrc))
    assert hosts == ["https://ci:s3cret@es.example.com:9200", "https://ci:s3cret@es.example.com:9201"]


def test_index_and_doctype_default_to_benchmark():
    hosts, index, doctype, project = parse_elasticsearch_storage(
        "http://127.0.0.1:9200?project_name=p")
    assert (hosts, index, doctype, project) == (["http://127.0.0.1:9200"], "benchmark", "benchmark", "p")
