"""The closed loop: probe (GCP), judge (JGLV), expand (EDDE), compose (Eq. 5), iteration runner."""
