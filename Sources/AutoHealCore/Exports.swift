@_exported import Locking
