"""DCAT-AP 3 export of merged catalogues (`harvester export`) and its SHACL validation."""
