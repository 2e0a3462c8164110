variable "suffix" {
  description = "Suffix for every resource name, e.g. your net ID (lease_mlops_<suffix>, node1-mlops-<suffix>)"
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_-]*$", var.suffix))
    error_message = "The suffix must be non-empty and use only letters, digits, '-' or '_' (it becomes part of resource names)."
  }
}

variable "key" {
  description = "Name of the key pair registered at the site, installed on every node"
  type        = string
  default     = "id_rsa_chameleon"
  nullable    = false

  validation {
    condition     = length(trimspace(var.key)) > 0
    error_message = "The key pair name must not be empty."
  }
}

variable "reservation" {
  description = "Flavor ID of the Blazar lease for the three nodes (invoke lease prints it)"
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", var.reservation))
    error_message = "The reservation must be the lease's flavor ID, a UUID like 01234567-89ab-cdef-0123-456789abcdef."
  }
}

variable "nodes" {
  description = "Node name -> fixed address on the private network (node1 is the jump host)"
  type        = map(string)
  default = {
    "node1" = "192.168.1.11"
    "node2" = "192.168.1.12"
    "node3" = "192.168.1.13"
  }

  validation {
    condition     = contains(keys(var.nodes), "node1") && alltrue([for ip in values(var.nodes) : can(regex("^192\\.168\\.1\\.([1-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-4])$", ip))])
    error_message = "The nodes must include node1, and every address must be in 192.168.1.0/24."
  }
}
