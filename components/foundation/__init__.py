"""Foundation: the network, the EKS cluster, node pools, KMS keys, Pod Identity roles and the
cluster add-ons everything else runs on."""
