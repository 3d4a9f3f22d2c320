package aliyuntest

import "encoding/json"

// The Open API's JSON shapes, as the real service sends them (field names
// from docs/protocols/aliyun.md §1–§3 and §6).

type apiError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId,omitempty"`
}

type tokenRequest struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	GrantType    string `json:"grant_type"`
	RefreshToken string `json:"refresh_token"`
	Code         string `json:"code"`
}

type tokenResponse struct {
	TokenType    string `json:"token_type"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
}

// renewResponse is the third-party renew service's answer; Text carries
// its error, if any.
type renewResponse struct {
	RefreshToken string `json:"refresh_token"`
	AccessToken  string `json:"access_token"`
	Text         string `json:"text"`
}

type driveInfo struct {
	UserID          string `json:"user_id"`
	Name            string `json:"name"`
	Avatar          string `json:"avatar"`
	DefaultDriveID  string `json:"default_drive_id"`
	ResourceDriveID string `json:"resource_drive_id,omitempty"`
	BackupDriveID   string `json:"backup_drive_id"`
}

type spaceInfo struct {
	PersonalSpaceInfo struct {
		UsedSize  int64 `json:"used_size"`
		TotalSize int64 `json:"total_size"`
	} `json:"personal_space_info"`
}

type fileItem struct {
	DriveID         string `json:"drive_id"`
	FileID          string `json:"file_id"`
	ParentFileID    string `json:"parent_file_id"`
	Name            string `json:"name"`
	Type            string `json:"type"`
	Size            *int64 `json:"size,omitempty"` // folders have none
	FileExtension   string `json:"file_extension,omitempty"`
	ContentHash     string `json:"content_hash,omitempty"`
	ContentHashName string `json:"content_hash_name,omitempty"`
	Category        string `json:"category,omitempty"`
	MimeType        string `json:"mime_type,omitempty"`
	Status          string `json:"status"`
	Hidden          bool   `json:"hidden"`
	Starred         bool   `json:"starred"`
	PunishFlag      int    `json:"punish_flag"`
	CreatedAt       string `json:"created_at"`
	LocalModifiedAt string `json:"local_modified_at,omitempty"`
	UpdatedAt       string `json:"updated_at"`
	// ShareID is set on the items of a share's listing.
	ShareID string `json:"share_id,omitempty"`
}

type listRequest struct {
	DriveID        string `json:"drive_id"`
	ParentFileID   string `json:"parent_file_id"`
	Limit          *int   `json:"limit"`
	Marker         string `json:"marker"`
	OrderBy        string `json:"order_by"`
	OrderDirection string `json:"order_direction"`
	Type           string `json:"type"`
}

type listResponse struct {
	Items      []fileItem `json:"items"`
	NextMarker string     `json:"next_marker"`
}

type fileRequest struct {
	DriveID   string `json:"drive_id"`
	FileID    string `json:"file_id"`
	FilePath  string `json:"file_path"`
	ExpireSec int64  `json:"expire_sec"`
}

type downloadURLResponse struct {
	URL             string `json:"url"`
	Expiration      string `json:"expiration"`
	Method          string `json:"method"`
	Size            int64  `json:"size"`
	ContentHash     string `json:"content_hash"`
	ContentHashName string `json:"content_hash_name"`
	FileID          string `json:"file_id"`
	Description     string `json:"description"`
}

// listMarker is what the opaque next_marker encodes.
type listMarker struct {
	Parent string `json:"p"`
	Offset int    `json:"o"`
}

// The write side (docs/protocols/aliyun.md §5).

type partInfo struct {
	PartNumber        int    `json:"part_number"`
	PartSize          int64  `json:"part_size,omitempty"`
	UploadURL         string `json:"upload_url,omitempty"`
	InternalUploadURL string `json:"internal_upload_url,omitempty"`
	ContentType       string `json:"content_type"`
	Etag              string `json:"etag,omitempty"`
}

type createRequest struct {
	DriveID         string     `json:"drive_id"`
	ParentFileID    string     `json:"parent_file_id"`
	Name            string     `json:"name"`
	Type            string     `json:"type"`
	CheckNameMode   string     `json:"check_name_mode"`
	Size            int64      `json:"size"`
	PartInfoList    []partInfo `json:"part_info_list"`
	PreHash         string     `json:"pre_hash"`
	ContentHash     string     `json:"content_hash"`
	ContentHashName string     `json:"content_hash_name"`
	ProofCode       string     `json:"proof_code"`
	ProofVersion    string     `json:"proof_version"`
	LocalCreatedAt  string     `json:"local_created_at"`
	LocalModifiedAt string     `json:"local_modified_at"`
}

// createResponse names the file file_name, not name, as the service does.
type createResponse struct {
	DriveID      string     `json:"drive_id"`
	DomainID     string     `json:"domain_id"`
	FileID       string     `json:"file_id"`
	ParentFileID string     `json:"parent_file_id"`
	FileName     string     `json:"file_name"`
	Type         string     `json:"type"`
	Status       string     `json:"status"`
	EncryptMode  string     `json:"encrypt_mode"`
	Exist        bool       `json:"exist"`
	RapidUpload  bool       `json:"rapid_upload"`
	UploadID     string     `json:"upload_id,omitempty"`
	PartInfoList []partInfo `json:"part_info_list,omitempty"`
	CreatedAt    string     `json:"created_at,omitempty"`
	UpdatedAt    string     `json:"updated_at,omitempty"`
}

type uploadRequest struct {
	DriveID      string     `json:"drive_id"`
	FileID       string     `json:"file_id"`
	UploadID     string     `json:"upload_id"`
	PartInfoList []partInfo `json:"part_info_list"`
}

type uploadURLResponse struct {
	DriveID      string     `json:"drive_id"`
	FileID       string     `json:"file_id"`
	UploadID     string     `json:"upload_id"`
	CreatedAt    string     `json:"created_at"`
	PartInfoList []partInfo `json:"part_info_list"`
}

type uploadedPartsResponse struct {
	DriveID              string     `json:"drive_id"`
	FileID               string     `json:"file_id"`
	UploadID             string     `json:"upload_id"`
	ParallelUpload       bool       `json:"parallelUpload"`
	UploadedParts        []partInfo `json:"uploaded_parts"`
	NextPartNumberMarker string     `json:"next_part_number_marker"`
}

type updateRequest struct {
	DriveID       string `json:"drive_id"`
	FileID        string `json:"file_id"`
	Name          string `json:"name"`
	CheckNameMode string `json:"check_name_mode"`
}

type moveRequest struct {
	DriveID        string `json:"drive_id"`
	FileID         string `json:"file_id"`
	ToDriveID      string `json:"to_drive_id"`
	ToParentFileID string `json:"to_parent_file_id"`
	NewName        string `json:"new_name"`
	CheckNameMode  string `json:"check_name_mode"`
	AutoRename     bool   `json:"auto_rename"`
}

// taskResponse answers move, copy, trash and delete; a non-empty
// async_task_id means the work goes on in the background.
type taskResponse struct {
	DriveID     string `json:"drive_id"`
	FileID      string `json:"file_id"`
	Exist       bool   `json:"exist,omitempty"`
	AsyncTaskID string `json:"async_task_id"`
}

type asyncTaskRequest struct {
	AsyncTaskID string `json:"async_task_id"`
}

type asyncTaskResponse struct {
	AsyncTaskID string `json:"async_task_id"`
	State       string `json:"state"` // Running | Succeed | Failed
}

// The web API and share links (docs/protocols/aliyun.md §1–§4).

type webTokenResponse struct {
	TokenType          string `json:"token_type"`
	AccessToken        string `json:"access_token"`
	RefreshToken       string `json:"refresh_token"`
	ExpiresIn          int64  `json:"expires_in"`
	UserID             string `json:"user_id"`
	UserName           string `json:"user_name"`
	NickName           string `json:"nick_name"`
	DefaultDriveID     string `json:"default_drive_id"`
	DefaultSboxDriveID string `json:"default_sbox_drive_id"`
	Role               string `json:"role"`
	Status             string `json:"status"`
	ExpireTime         string `json:"expire_time"`
	DeviceID           string `json:"device_id"`
}

type webUser struct {
	DomainID        string `json:"domain_id"`
	UserID          string `json:"user_id"`
	NickName        string `json:"nick_name"`
	UserName        string `json:"user_name"`
	Role            string `json:"role"`
	Status          string `json:"status"`
	DefaultDriveID  string `json:"default_drive_id"`
	ResourceDriveID string `json:"resource_drive_id,omitempty"`
	BackupDriveID   string `json:"backup_drive_id"`
}

type createSessionRequest struct {
	DeviceName   string `json:"deviceName"`
	ModelName    string `json:"modelName"`
	Nonce        int    `json:"nonce"`
	PubKey       string `json:"pubKey"`
	RefreshToken string `json:"refreshToken"`
}

type webDownloadURLResponse struct {
	DomainID        string `json:"domain_id"`
	DriveID         string `json:"drive_id"`
	FileID          string `json:"file_id"`
	Method          string `json:"method"`
	URL             string `json:"url"`
	InternalURL     string `json:"internal_url"`
	CDNURL          string `json:"cdn_url"`
	Expiration      string `json:"expiration"`
	Size            int64  `json:"size"`
	ContentHash     string `json:"content_hash"`
	ContentHashName string `json:"content_hash_name"`
}

type shareFileInfo struct {
	Type     string `json:"type"`
	FileID   string `json:"file_id"`
	FileName string `json:"file_name"`
}

type shareInfo struct {
	CreatorID   string          `json:"creator_id"`
	CreatorName string          `json:"creator_name"`
	Expiration  string          `json:"expiration"`
	UpdatedAt   string          `json:"updated_at"`
	Vip         string          `json:"vip"`
	ShareName   string          `json:"share_name"`
	DisplayName string          `json:"display_name"`
	FileCount   int             `json:"file_count"`
	HasPwd      bool            `json:"has_pwd"`
	FileInfos   []shareFileInfo `json:"file_infos"`
}

type shareTokenResponse struct {
	ShareToken string `json:"share_token"`
	ExpireTime string `json:"expire_time"`
	ExpiresIn  int64  `json:"expires_in"`
}

type shareDownloadURLResponse struct {
	DownloadURL string `json:"download_url"`
	URL         string `json:"url"`
	Thumbnail   string `json:"thumbnail"`
	Expiration  string `json:"expiration"`
}

type batchSubRequest struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

type batchRequest struct {
	Resource string            `json:"resource"`
	Requests []batchSubRequest `json:"requests"`
}

type batchSubResponse struct {
	ID     string `json:"id"`
	Status int    `json:"status"`
	Body   any    `json:"body"`
}

type batchResponse struct {
	Responses []batchSubResponse `json:"responses"`
}

type shareCopyRequest struct {
	FileID         string `json:"file_id"`
	ShareID        string `json:"share_id"`
	AutoRename     bool   `json:"auto_rename"`
	ToParentFileID string `json:"to_parent_file_id"`
	ToDriveID      string `json:"to_drive_id"`
}

// The management of one's own share links
// (docs/protocols/accounts-offline-shares.md §4), as the web API answers.

// shareLinkItem is the ShareLink object that create, get, update and
// list answer.
type shareLinkItem struct {
	ShareID           string    `json:"share_id"`
	ShareName         string    `json:"share_name"`
	ShareMsg          string    `json:"share_msg"`
	FullShareMsg      string    `json:"full_share_msg"`
	SharePwd          string    `json:"share_pwd"`
	ShareURL          string    `json:"share_url"`
	Description       string    `json:"description"`
	Expiration        string    `json:"expiration"`
	Expired           bool      `json:"expired"`
	Creator           string    `json:"creator"`
	DriveID           string    `json:"drive_id"`
	FileID            string    `json:"file_id"`
	FileIDList        []string  `json:"file_id_list"`
	PreviewCount      int64     `json:"preview_count"`
	SaveCount         int64     `json:"save_count"`
	DownloadCount     int64     `json:"download_count"`
	Status            string    `json:"status"`
	CreatedAt         string    `json:"created_at"`
	UpdatedAt         string    `json:"updated_at"`
	FirstFile         *fileItem `json:"first_file,omitempty"`
	IsPhotoCollection bool      `json:"is_photo_collection"`
	SyncToHomepage    bool      `json:"sync_to_homepage"`
	Popularity        int64     `json:"popularity"`
	PopularityStr     string    `json:"popularity_str"`
	DisplayName       string    `json:"display_name"`
}

type shareCreateRequest struct {
	DriveID     string   `json:"drive_id"`
	FileIDList  []string `json:"file_id_list"`
	SharePwd    string   `json:"share_pwd"`
	Expiration  string   `json:"expiration"`
	ShareName   string   `json:"share_name"`
	Description string   `json:"description"`
}

// shareUpdateRequest: a field left out stays as it is.
type shareUpdateRequest struct {
	ShareID     string  `json:"share_id"`
	SharePwd    *string `json:"share_pwd"`
	Expiration  *string `json:"expiration"`
	ShareName   *string `json:"share_name"`
	Description *string `json:"description"`
}

type shareListRequest struct {
	Creator         string `json:"creator"`
	Category        string `json:"category"`
	IncludeCanceled bool   `json:"include_canceled"`
	OrderBy         string `json:"order_by"`
	OrderDirection  string `json:"order_direction"`
	Limit           *int   `json:"limit"`
	Marker          string `json:"marker"`
}

type shareListResponse struct {
	Items             []shareLinkItem `json:"items"`
	NextMarker        string          `json:"next_marker"`
	PunishedFileCount int             `json:"punished_file_count"`
}

type shareMsgResponse struct {
	FullShareMsg string `json:"full_share_msg"`
	ShareURL     string `json:"share_url"`
}

type driveFile struct {
	DriveID string `json:"drive_id"`
	FileID  string `json:"file_id"`
}

type checkAvailableRequest struct {
	DriveFileList []driveFile `json:"drive_file_list"`
}

type checkAvailableResponse struct {
	InvalidItems []fileItem `json:"invalid_items"`
}

// openCreateShareRequest is the Open API's createShare, in camelCase.
type openCreateShareRequest struct {
	DriveID    string   `json:"driveId"`
	FileIDList []string `json:"fileIdList"`
	Expiration string   `json:"expiration"`
	SharePwd   string   `json:"sharePwd"`
}

// openCreateShareResponse: update_at is tickstep's spelling.
type openCreateShareResponse struct {
	ShareID    string `json:"share_id"`
	Expiration string `json:"expiration"`
	Expired    bool   `json:"expired"`
	SharePwd   string `json:"share_pwd"`
	ShareURL   string `json:"share_url"`
	Creator    string `json:"creator"`
	Status     string `json:"status"`
	CreatedAt  string `json:"created_at"`
	UpdateAt   string `json:"update_at"`
}

// The transcoded preview of a shared video (§4.11).

type previewPlayInfoRequest struct {
	ShareID      string `json:"share_id"`
	DriveID      string `json:"drive_id"`
	FileID       string `json:"file_id"`
	Category     string `json:"category"`
	TemplateID   string `json:"template_id"`
	URLExpireSec int64  `json:"url_expire_sec"`
}

type transcodingTask struct {
	TemplateID     string `json:"template_id"`
	TemplateName   string `json:"template_name"`
	TemplateWidth  int    `json:"template_width"`
	TemplateHeight int    `json:"template_height"`
	Status         string `json:"status"`
	Stage          string `json:"stage"`
	URL            string `json:"url,omitempty"`
	PreviewURL     string `json:"preview_url,omitempty"`
	KeepOriginal   bool   `json:"keep_original_resolution"`
}

type previewPlayInfoResponse struct {
	ShareID  string `json:"share_id"`
	FileID   string `json:"file_id"`
	PlayInfo struct {
		Category string `json:"category"`
		Meta     struct {
			Duration float64 `json:"duration"`
			Width    int     `json:"width"`
			Height   int     `json:"height"`
			Live     struct {
				TSSegment    int `json:"ts_segment"`
				TSTotalCount int `json:"ts_total_count"`
				TSPreCount   int `json:"ts_pre_count"`
			} `json:"live_transcoding_meta"`
		} `json:"meta"`
		Tasks []transcodingTask `json:"live_transcoding_task_list"`
	} `json:"video_preview_play_info"`
}

type shareIDRequest struct {
	ShareID string `json:"share_id"`
}
