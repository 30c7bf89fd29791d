"""Load tests of a live server: ``python -m bench.load`` (the mixed workload of ``locustfile.py``)."""
