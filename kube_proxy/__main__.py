"""`python -m kube_proxy`: see kube_proxy/main.py."""
from kube_proxy.main import main

main()
