"""Documentation generated from the synthesized templates (`cdk.out`): what each stack costs (`cost.py`,
`make cost`), its architecture diagram (`diagrams.py`) and its dashboard (`dashboards.py`, both `make diagrams`).

Why from the templates and not from the constructs' code: the template is what CloudFormation deploys, so a
figure or a picture made from it stays true whenever a construct changes, and reading it needs no AWS account.
"""
