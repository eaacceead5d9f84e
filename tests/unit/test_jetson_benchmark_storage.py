"""The fleet storage URL that README.md's Jetson section documents, read by pytest-benchmark.

No Elasticsearch or OpenSearch server installs here (none is packaged for Debian, PyPI or
npm), so nothing is stored: these check that the documented URL means what the README says,
using pytest-benchmark's own parser (real code, no server and no mock).
"""

from __future__ import annotations

import re
from pathlib import Path

from pytest_benchmark.utils import parse_elasticsearch_storage

README = Path(__file__).resolve().parents[2] / "README.md"


def documented_url() -> str:
    section = README.read_text().split("\n## Jetson\n", 1)[1].split("\n## ", 1)[0]
    urls = re.findall(r"--benchmark-storage (elasticsearch\+\S+)", section)
    assert len(urls) == 1, "the Jetson section documents one storage URL"
    return urls[0]


def test_documented_url_names_host_index_doctype_and_project():
    url = documented_url()
    assert url.startswith("elasticsearch+https://")
    hosts, index, doctype, project = parse_elasticsearch_storage(url[len("elasticsearch+"):])
    assert hosts == ["https://es.example.com:9200"]
    assert (index, doctype, project) == ("peoplenet", "benchmark", "peoplenet-triton")


def test_netrc_credentials_are_added_to_every_host(tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine es.example.com login ci password s3cret\n")
    netrc.chmod(0o600)
    url = documented_url().replace("es.example.com:9200", "es.example.com:9200,es.example.com:9201")
    hosts, *_ = parse_elasticsearch_storage(url[len("elasticsearch+"):], netrc_file=str(netrc))
    assert hosts == ["https://ci:s3cret@es.example.com:9200", "https://ci:s3cret@es.example.com:9201"]


def test_index_and_doctype_default_to_benchmark():
    hosts, index, doctype, project = parse_elasticsearch_storage(
        "http://127.0.0.1:9200?project_name=p")
    assert (hosts, index, doctype, project) == (["http://127.0.0.1:9200"], "benchmark", "benchmark", "p")
